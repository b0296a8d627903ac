"""Staff actions on an account: a form, a confirmation page, then one service call."""
