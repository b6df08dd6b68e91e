"""WTForms for the HTML pages (CSRF token on every one of them, through Flask-WTF)."""
