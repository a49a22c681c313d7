"""The workspace's one vocabulary, imported by every other layer and importing none of them.

* :mod:`~dsa110_ws.core.time`: ``TimeLike``, the one time parser, MJD/Unix/UTC
  conversions, the workspace :class:`~dsa110_ws.core.time.Clock`, windows, durations;
* :mod:`~dsa110_ws.core.severity`: the one severity ladder (ok < unknown < warning <
  critical) with its mappings, exit codes and colours;
* :mod:`~dsa110_ws.core.units`: the one ``Quantity`` coercion;
* :mod:`~dsa110_ws.core.paths`: confining reads to the roots, refusing writes into the
  pipeline's files;
* :mod:`~dsa110_ws.core.atomic`: atomic file writes;
* :mod:`~dsa110_ws.core.skymath`: spherical geometry in plain numpy.

Each module is cheap to import (astropy and pandas load inside the functions that use them).
"""
