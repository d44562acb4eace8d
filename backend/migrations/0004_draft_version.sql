-- Drafts carry a version (issue 10, item 7): each saved draft increments it, the client sends the version
-- it last saw, and a save from another version is refused with 409 and the current draft, so a late retry
-- of older words never overwrites newer ones. Read and checked under the row lock of the save
-- (communications primary key); no index needed.
ALTER TABLE communications ADD COLUMN draft_version bigint NOT NULL DEFAULT 0 CHECK (draft_version >= 0);
