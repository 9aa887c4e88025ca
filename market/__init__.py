"""The market: parties (users, organisations), authentication, catalogue, notifications."""
