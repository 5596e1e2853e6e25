"""Pages for people: the company admin's cabinet, the employee's numbers, the operator staff's
views, and sign-in. Server-rendered (Jinja2), Russian by default, each form working without
JavaScript. The pages call the same services, under the same access rules, as the API."""
