"""The OTLP sink and the OTLP -> Delta mapping (one row per point, log record, span)."""
