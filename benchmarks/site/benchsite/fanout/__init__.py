"""An app holding django-socket's fan-out handlers (``sockets.py``, discovered in
installed apps), for fanout_sockets.py."""
