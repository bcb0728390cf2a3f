# core/: rules added by the part's owner
