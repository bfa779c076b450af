"""tigris."""
