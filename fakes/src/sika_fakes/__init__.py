"""Wire-compatible fakes of the outside services Sika talks to, served over real HTTP on 127.0.0.1.

Each fake speaks its service's published wire format (requests, answers, status codes, callbacks), so
Sika's real adapters are what tests, benchmarks and ``sika serve --demo`` exercise. They live in their
own distribution, outside ``sika``, so that a production install of Sika carries none of them: a plain
``sika serve`` cannot mint money through a fake.
"""
