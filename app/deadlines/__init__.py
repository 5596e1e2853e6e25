"""Deadlines: the policy that gives each number its deadline, flagging and suspension."""
