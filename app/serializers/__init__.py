"""The wire shape in one place: comment JSON, CSV columns and rows, history events. Reports add theirs here."""
