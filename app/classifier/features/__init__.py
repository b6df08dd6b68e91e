"""Feature extraction: rule features (rules.py), hashed n-gram TF-IDF (tfidf.py), both together (featurizer.py)."""
