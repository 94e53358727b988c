"""`corral top`: a live terminal view of a daemon's instances, with actions (textual).

Imported only by the `top` command: textual is an optional extra (`corral[top]`).
"""
