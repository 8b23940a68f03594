-- When the last reaper pass (of any replica) ran. A pass that finds the previous one too long
-- ago knows the fleet could not reach the database (or no API ran): workers could not
-- heartbeat either, so their expired leases say nothing about them. That pass extends every
-- running lease by one lease period instead of reaping work that may have finished meanwhile.
CREATE TABLE reaper_state (
  id           integer PRIMARY KEY CONSTRAINT reaper_state_single_row CHECK (id = 1),
  last_pass_at timestamptz NOT NULL
);
