-- Lead intake (seed 001 §2.6.1, appendix А): one record per imported file, and the lead snapshots its
-- accepted rows became.

CREATE TABLE lead_imports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream          text        NOT NULL CHECK (stream ~ '^[A-Z][A-Z0-9_]{0,63}$'),
    -- folder: dropped into the stream's folder; upload: POST /api/admin/v1/lead-imports; cli: tm-admin.
    source          text        NOT NULL CHECK (source IN ('folder', 'upload', 'cli')),
    file_name       text        NOT NULL,
    -- Where the importer reads the file: relative to LEADS_DIR (folder, upload) or absolute (cli).
    source_path     text        NOT NULL,
    file_format     text        NOT NULL CHECK (file_format IN ('csv', 'xlsx')),
    content_hash    text        NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),  -- sha256 of the bytes
    size_bytes      bigint      NOT NULL CHECK (size_bytes >= 0),
    import_valid_rows boolean   NOT NULL DEFAULT false,  -- the stream's option: keep the good rows of a bad file
    state           text        NOT NULL DEFAULT 'queued'
                                CHECK (state IN ('queued', 'importing', 'done', 'rejected')),
    -- Why a whole file was rejected: EMPTY, NOT_CSV, ENCODING, HEADER, NO_ROWS, TOO_LARGE, BAD_ROWS,
    -- DUPLICATE, INTERRUPTED, UNREADABLE, FAILED.
    reason          text,
    message         text,
    duplicate_of    bigint      REFERENCES lead_imports (id),
    encoding        text,
    delimiter       text,
    rows_total      bigint      NOT NULL DEFAULT 0,  -- data rows read so far (progress), then in the file
    rows_accepted   bigint      NOT NULL DEFAULT 0,  -- rows that passed format control and were kept
    rows_rejected   bigint      NOT NULL DEFAULT 0,  -- rows with at least one bad value
    snapshots_new   bigint      NOT NULL DEFAULT 0,  -- accepted rows that became new snapshots
    snapshots_unchanged bigint  NOT NULL DEFAULT 0,  -- accepted rows already known (same or older change)
    bytes_done      bigint      NOT NULL DEFAULT 0,
    errors_sample   jsonb       NOT NULL DEFAULT '[]',  -- the first bad values, for the API
    report_rows     bigint      NOT NULL DEFAULT 0,  -- lines of the error report
    report_path     text,  -- the error report (<name>.errors.csv), like source_path
    stored_path     text,  -- where the file went: <stream>/success/... or <stream>/error/...
    attempts        integer     NOT NULL DEFAULT 0,
    created_by      bigint      REFERENCES operators (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    moved_at        timestamptz,  -- the file (and its report) are in success/ or error/
    CHECK ((state IN ('done', 'rejected')) = (finished_at IS NOT NULL))
);

-- Exactly once: one file content is imported at most once (a rejected file imported nothing and may come again).
CREATE UNIQUE INDEX lead_imports_hash_idx ON lead_imports (content_hash)
    WHERE state IN ('queued', 'importing', 'done');
-- The watcher and the recovery pass: records not finished, or whose file is not yet moved.
CREATE INDEX lead_imports_open_idx ON lead_imports (source_path)
    WHERE state IN ('queued', 'importing') OR moved_at IS NULL;
-- The listing: newest first, by stream and/or state.
CREATE INDEX lead_imports_stream_idx ON lead_imports (stream, id DESC);
CREATE INDEX lead_imports_state_idx ON lead_imports (state, id DESC);

-- A lead snapshot: one accepted row, with its typed columns (appendix А). The same application arriving
-- with a newer significant-change time is a new snapshot; the same time again is not stored. Consumers (the
-- filter cascade) read the snapshots of imports that are done: an import commits its snapshots at once.
-- Written by COPY in batches: the values were checked by format control, so the table repeats no CHECK
-- (each costs COPY time on a million rows) and has one B-tree only.
CREATE TABLE lead_snapshots (
    import_id           bigint      NOT NULL,  -- lead_imports.id (no FK: checked per row it slows COPY down)
    line_no             bigint      NOT NULL,  -- the row's line in the file (the sheet's row in an XLSX)
    stream              text        NOT NULL,
    application_no      bigint      NOT NULL,  -- 1.1
    created_at          timestamptz NOT NULL,  -- 1.2 + 1.3, Moscow time
    changed_at          timestamptz NOT NULL,  -- 1.4 + 1.5
    application_status  text        NOT NULL,  -- 1.6 created | registered | scored | canceled
    loan_changed_at     timestamptz,           -- 1.7 + 1.8
    loan_status         text,                  -- 1.9 transferred | received | canceled | repaid
    scoring_result      text,                  -- 1.10 approved | rejected
    client_type         text        NOT NULL,  -- 2.1 pioneer | repeater
    phone               text        NOT NULL,  -- 2.2 7XXXXXXXXXX
    face_id             text,
    citizenship         text,
    passport_series     text,
    passport_number     text,
    last_name           text,
    first_name          text,
    middle_name         text,
    birth_date          date,
    sex                 text,                  -- M | F
    device_os           text,
    app_version         text,
    device_id           text,
    requested_amount    bigint,                -- 4.1, kopecks
    approved_amount     bigint,                -- 4.2, kopecks
    product_type        text,
    term                integer,
    term_unit           text,                  -- day | month
    grace               integer,
    grace_unit          text,                  -- day | month
    received_at         timestamptz NOT NULL DEFAULT now(),
    -- A snapshot is an application as of its significant change: one per application and change time. The
    -- importer's "known already?" lookup (queries.latest_changes: application_no = ANY(...)) reads it too.
    PRIMARY KEY (application_no, changed_at)
);
-- A consumer reads one import's snapshots (import_id = $1): an import's rows are written together, so a
-- BRIN index finds them at almost no cost per COPYed row (a B-tree here costs about 10 % of COPY time).
CREATE INDEX lead_snapshots_import_idx ON lead_snapshots USING brin (import_id) WITH (pages_per_range = 32);
