"""Services: science and file logic (astropy, casacore); no SQL."""
