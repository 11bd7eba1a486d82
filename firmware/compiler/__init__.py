"""The compiler: from golden-model ops (and, to come, whole networks) to core programs.

:mod:`.core_program` turns one layer op into passes of a sparse core.
"""
