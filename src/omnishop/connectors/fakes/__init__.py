"""Local fakes of the channels' APIs: real HTTP servers on 127.0.0.1 that speak each service's wire format
(written from its public documentation), with in-memory state tests can assert on and a fault mode."""
