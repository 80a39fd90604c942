"""Privacy: a person's own data from their own channel, anonymous inboxes, retention, encryption at rest."""
