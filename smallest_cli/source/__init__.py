"""Where the text comes from: arguments, files, stdin, live input."""
