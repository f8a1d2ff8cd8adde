"""A response cache: identical requests (same URL and canonical body) are answered once.

Modules: ``keys`` (the canonical key, pure), ``sqlite`` (a store that several processes
may share). The pipeline step that consults it is ``surge._engine.caching``.
"""
