"""What the dashboard's server does before and beside the screens: the names it
answers to (:mod:`server.hosts`) and the scheduled checks it runs from its start to
its stop (:mod:`server.lifespan`)."""
