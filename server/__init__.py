"""What the dashboard's server does before and beside the screens: the names it
answers to (:mod:`server.hosts`)."""
