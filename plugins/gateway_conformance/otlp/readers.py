"""Protobuf field readers bound once (``attrgetter``), for C-level ``map`` loops over points."""

from __future__ import annotations

from operator import attrgetter, itemgetter, methodcaller

EVERYTHING = itemgetter(slice(None))  # container[:]: copies a repeated field at C speed
START = attrgetter("start_time_unix_nano")
TIME = attrgetter("time_unix_nano")
FLAGS = attrgetter("flags")
AS_DOUBLE = attrgetter("as_double")
AS_INT = attrgetter("as_int")
EXEMPLARS = attrgetter("exemplars")
ATTRIBUTES = attrgetter("attributes")
FILTERED_ATTRIBUTES = attrgetter("filtered_attributes")
SPAN_ID = attrgetter("span_id")
TRACE_ID = attrgetter("trace_id")
WHICH_VALUE = methodcaller("WhichOneof", "value")
COUNT = attrgetter("count")
SUM = attrgetter("sum")
POSITIVE = attrgetter("positive")
NEGATIVE = attrgetter("negative")
BUCKET_COUNTS = attrgetter("bucket_counts")
EXPLICIT_BOUNDS = attrgetter("explicit_bounds")
ZERO_COUNT = attrgetter("zero_count")
ZERO_THRESHOLD = attrgetter("zero_threshold")
SCALE = attrgetter("scale")
OFFSET = attrgetter("offset")
QUANTILE_VALUES = attrgetter("quantile_values")
QUANTILE = attrgetter("quantile")
VALUE = attrgetter("value")
POINT_LONGS = ("start_time_unix_nano", "time_unix_nano")
POINT_INTS = ("flags",)
