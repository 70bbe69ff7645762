"""What Python's JSON decoder refuses beyond invalid syntax, as messages a user can act on.

Two valid-looking inputs make `json.loads` fail with something other than a JSONDecodeError:
an integer of more digits than `sys.get_int_max_str_digits()` (4,300 by default: a ValueError)
and arrays or objects nested deeper than the interpreter's recursion limit (a RecursionError).
Every reader catches both (after JSONDecodeError, a ValueError subclass) and reports them with
the file and line, like any other malformed record.
"""

import sys

NESTED_TOO_DEEPLY = "nested too deeply (arrays or objects inside each other past Python's limit)"


def json_value_error(e: ValueError) -> str:
    """The message for a ValueError that the JSON decoder raised (not a JSONDecodeError)."""
    text = str(e)
    if "digits" in text and "integer" in text:
        return (
            f"a number of more than {sys.get_int_max_str_digits()} digits, over Python's limit "
            "for reading integers; write it as a string"
        )
    return (text.splitlines() or ["cannot be read"])[0][:200]
