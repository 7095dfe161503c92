"""The gateway's usage table and inference table (payload logging), as Delta tables.

``tags`` reads the request-tags header; ``capture`` keeps the bytes a request and its
response carried (bounded); ``assemble`` turns a streamed response into the final response a
client assembles and reads the token counts it reported; ``rows`` builds one usage row and
one inference row per request; ``recorder`` commits them in groups through the shared
Delta writers (``gateway_conformance.tables``). Column choices: docs/usage-tables.md.
"""
