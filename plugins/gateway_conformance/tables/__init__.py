"""The tables layer: Delta writers (delta-rs and Spark), the DDL -> Arrow schema, table names.

Generic over a *table kind*: the stem of a DDL file in ``fixtures/schemas/`` (``otel_metrics``,
``otel_logs``, ``otel_spans``, ``ai_gateway_usage``, ...). Nothing here knows OTLP or the gateway;
both write through these writers (see docs/architecture.md).
"""
