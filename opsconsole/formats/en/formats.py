# Operators compare event times within a task: every date and time the console shows is to the second, in one
# unambiguous order (ISO 8601 style), whatever Django's English locale defaults to.
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
