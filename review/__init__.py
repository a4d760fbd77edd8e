"""The reader's review site: ``ra2 review`` writes a static site that opens from disk (``build``),
``ra2 review --serve`` serves it from 127.0.0.1 and saves a reader's corrections (``server``);
``corrections`` turns a reader's edits into a valid predictions CSV and a landmarks CSV."""
