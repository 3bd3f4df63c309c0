"""Self-service pages for the referred person: sign in with reference, PIN and date of birth."""
