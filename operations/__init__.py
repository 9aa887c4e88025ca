"""Operations: what the province's control room, its auditors and the public see across domains
(dashboards, the audit log's search, open data, pilot reports). It only reads the domains
through their ``stats`` modules and writes nothing but audit records of its own actions."""
