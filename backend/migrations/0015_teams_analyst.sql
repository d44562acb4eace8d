-- Teams and the analyst role (issue 17; the supervisors' team filter of issue 14).
-- An operator belongs to at most one team; reports and the live floor group and filter by it.
CREATE TABLE teams (
    id         bigserial    PRIMARY KEY,
    name       varchar(64)  NOT NULL CHECK (length(btrim(name)) > 0),
    created_at timestamptz  NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_name_key ON teams (lower(name));

ALTER TABLE operators ADD COLUMN team_id bigint REFERENCES teams (id) ON DELETE SET NULL;
-- Reports and the floor list a team's operators.
CREATE INDEX operators_team_idx ON operators (team_id) WHERE team_id IS NOT NULL;

-- Analysts read reports; they take no calls and command nobody.
ALTER TABLE operators DROP CONSTRAINT operators_role_check;
ALTER TABLE operators ADD CONSTRAINT operators_role_check
    CHECK (role IN ('operator', 'supervisor', 'analyst', 'admin'));
