"""report/: tables and plots of results. Writes files (atomically: a temporary file renamed
into place, so an interrupted run never leaves a partial one); computes nothing new."""
