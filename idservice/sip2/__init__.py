"""The SIP2 bridge: library self-service kiosks ask whether a Kent Card holds library
membership (docs/sip2.md).

* :mod:`idservice.sip2.codec`: the SIP2 2.00 wire format (no Flask, no database);
* :mod:`idservice.sip2.protocol`: one kiosk's conversation, a frame in and a frame out;
* :mod:`idservice.sip2.bridge`: a patron look-up, the partner check's use case;
* :mod:`idservice.sip2.kiosks`: registered kiosks and their SIP2 logins;
* :mod:`idservice.sip2.server`: ``kentcard sip2 serve``, the TCP server.
"""
