"""Files → articles → chunks → index → search."""
