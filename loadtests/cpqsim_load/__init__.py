"""Building blocks of the cpqsim Locust suite (``loadtests/locustfile.py``).

``schedule`` (load shapes and arrival rates as pure functions of elapsed time) and
``verdict`` import no Locust, so they are specified by plain unit tests; ``journeys``
and ``open_loop`` run inside Locust's gevent world and only ever speak HTTP.
"""
