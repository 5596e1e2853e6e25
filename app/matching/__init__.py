"""The matching run (DOMAIN.md, flow A): device SIMs activated, one confirmation request per
employee, each answer compared with what the company submitted, unanswered requests expired."""
