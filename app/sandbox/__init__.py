"""The sandbox identity provider: tokens for demo people, admins and operators, outside
production only. It stands above companies and people, whose records it looks up."""
