# introspect/: rules added by the part's owner
