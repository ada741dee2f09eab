"""Notifications: what reactions tell people, in the app, live and by email.

`services` writes (one row per event and recipient, reads marked), `selectors`
reads (scoped to the recipient and to matters they can see now), `email`
sends the ones a person's preferences allow, `views` are the pages.
"""
