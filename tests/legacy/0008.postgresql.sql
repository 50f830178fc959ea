CREATE TABLE legacy_fixture.alembic_version (
    version_num character varying(32) NOT NULL
);
CREATE TABLE legacy_fixture.audit_log (
    id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    action character varying(40) NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL
);
CREATE SEQUENCE legacy_fixture.audit_log_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE legacy_fixture.audit_log_id_seq OWNED BY legacy_fixture.audit_log.id;
CREATE TABLE legacy_fixture.board_version (
    id integer NOT NULL,
    version bigint NOT NULL
);
CREATE SEQUENCE legacy_fixture.board_version_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE legacy_fixture.board_version_id_seq OWNED BY legacy_fixture.board_version.id;
CREATE TABLE legacy_fixture.final_rankings (
    id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    body text NOT NULL
);
CREATE SEQUENCE legacy_fixture.final_rankings_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE legacy_fixture.final_rankings_id_seq OWNED BY legacy_fixture.final_rankings.id;
CREATE TABLE legacy_fixture.invites (
    code_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    team_id integer
);
CREATE TABLE legacy_fixture.login_sessions (
    id_hash character varying(64) NOT NULL,
    team_id integer,
    credential_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL
);
CREATE TABLE legacy_fixture.registrations (
    id integer NOT NULL,
    address character varying(64) NOT NULL,
    team_id integer NOT NULL,
    created_at timestamp with time zone NOT NULL
);
CREATE SEQUENCE legacy_fixture.registrations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE legacy_fixture.registrations_id_seq OWNED BY legacy_fixture.registrations.id;
CREATE TABLE legacy_fixture.settings (
    name character varying(64) NOT NULL,
    value text NOT NULL
);
CREATE TABLE legacy_fixture.submissions (
    id integer NOT NULL,
    team_id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    filename character varying(200) NOT NULL,
    note character varying(400) NOT NULL,
    sha256 character varying(64) NOT NULL,
    size_bytes bigint NOT NULL,
    kind character varying(16) NOT NULL,
    status character varying(16) NOT NULL,
    failure_reason text,
    scores_sha256 character varying(64),
    scored_at timestamp with time zone,
    started_at timestamp with time zone,
    n_rows integer,
    public_auc double precision,
    public_lo double precision,
    public_hi double precision,
    private_auc double precision,
    private_lo double precision,
    private_hi double precision,
    is_final boolean NOT NULL,
    ladder_accepted boolean,
    disqualified_reason text,
    is_late boolean NOT NULL
);
CREATE SEQUENCE legacy_fixture.submissions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE legacy_fixture.submissions_id_seq OWNED BY legacy_fixture.submissions.id;
CREATE TABLE legacy_fixture.teams (
    id integer NOT NULL,
    name character varying(200) NOT NULL,
    name_key character varying(200) NOT NULL,
    token_hash character varying(64) NOT NULL,
    is_reference boolean NOT NULL,
    disqualified_reason text,
    created_at timestamp with time zone NOT NULL
);
CREATE SEQUENCE legacy_fixture.teams_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE legacy_fixture.teams_id_seq OWNED BY legacy_fixture.teams.id;
CREATE TABLE legacy_fixture.token_failures (
    address character varying(64) NOT NULL,
    failures integer NOT NULL,
    first_at timestamp with time zone NOT NULL,
    last_at timestamp with time zone NOT NULL,
    last_kind character varying(32) NOT NULL
);
ALTER TABLE ONLY legacy_fixture.audit_log ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.audit_log_id_seq'::regclass);
ALTER TABLE ONLY legacy_fixture.board_version ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.board_version_id_seq'::regclass);
ALTER TABLE ONLY legacy_fixture.final_rankings ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.final_rankings_id_seq'::regclass);
ALTER TABLE ONLY legacy_fixture.registrations ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.registrations_id_seq'::regclass);
ALTER TABLE ONLY legacy_fixture.submissions ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.submissions_id_seq'::regclass);
ALTER TABLE ONLY legacy_fixture.teams ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.teams_id_seq'::regclass);
INSERT INTO legacy_fixture.alembic_version VALUES ('0008');
INSERT INTO legacy_fixture.audit_log VALUES (1, '2026-12-02 10:05:17.630739+00', 'reveal', '', 'submissions closed now, at 2026-12-02 10:05:17 UTC; finals frozen; 4 teams ranked');
INSERT INTO legacy_fixture.board_version VALUES (1, 26);
INSERT INTO legacy_fixture.final_rankings VALUES (1, '2026-12-02 10:05:17.630739+00', '{"ranked_at": "2026-12-02T10:05:17.630739+00:00", "resamples": 1000, "rows": [{"team_id": 4, "team": "team 3", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:17.189027+00:00", "submission_id": 11, "public_auc": 1.0, "public_lo": 1.0, "public_hi": 1.0, "rank": 1, "rank_lo": 1, "rank_hi": 1, "public_rank": 3, "private_auc": 1.0, "private_lo": 1.0, "private_hi": 1.0, "rank_change": 2, "p_value_vs_next": 0.47950012218694815}, {"team_id": 3, "team": "team 2", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:16.927342+00:00", "submission_id": 8, "public_auc": 0.984375, "public_lo": 0.9410655054890725, "public_hi": 1.0, "rank": 2, "rank_lo": 1, "rank_hi": 3, "public_rank": 2, "private_auc": 0.9930555555555555, "private_lo": 0.9738068913284766, "private_hi": 1.0, "rank_change": 0, "p_value_vs_next": 0.32679956766896767}, {"team_id": 5, "team": "matched filter", "is_reference": true, "entries": 1, "last_submission": "2026-12-02T10:05:17.394497+00:00", "submission_id": 13, "public_auc": 1.0, "public_lo": 1.0, "public_hi": 1.0, "rank": null, "rank_lo": null, "rank_hi": null, "public_rank": null, "private_auc": 0.986111111111111, "private_lo": 0.9532804790942965, "private_hi": 1.0, "rank_change": null, "p_value_vs_next": null}, {"team_id": 2, "team": "team 1", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:16.708379+00:00", "submission_id": 5, "public_auc": 0.890625, "public_lo": 0.7181621398400232, "public_hi": 1.0, "rank": 3, "rank_lo": 1, "rank_hi": 3, "public_rank": 1, "private_auc": 0.9583333333333334, "private_lo": 0.888689045744144, "private_hi": 1.0, "rank_change": -2, "p_value_vs_next": 0.03229486647898114}, {"team_id": 1, "team": "team 0", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:16.411077+00:00", "submission_id": 2, "public_auc": 0.90625, "public_lo": 0.742555497308813, "public_hi": 1.0, "rank": 4, "rank_lo": 4, "rank_hi": 4, "public_rank": 4, "private_auc": 0.701388888888889, "private_lo": 0.47223495785575514, "private_hi": 0.9305428199220227, "rank_change": 0, "p_value_vs_next": null}], "rank_counts": {"4": {"1": 1000}, "3": {"1": 570, "2": 361, "3": 69}, "2": {"1": 118, "2": 58, "3": 810, "4": 14}, "1": {"1": 2, "3": 14, "4": 984}}}');
INSERT INTO legacy_fixture.invites VALUES ('76ab33c22e3946598b12d8a2cb60cf22f6ba43957dfc4ceff22e09cfa84c8c9b', '2026-12-02 10:05:17.561156+00', NULL, NULL);
INSERT INTO legacy_fixture.invites VALUES ('39915f99de45e78620a54455df6682395e576b3f87cf670a7d67cc51f02f9682', '2026-12-02 10:05:17.561156+00', NULL, NULL);
INSERT INTO legacy_fixture.registrations VALUES (1, '127.0.0.1', 1, '2026-12-02 10:05:15.354755+00');
INSERT INTO legacy_fixture.registrations VALUES (2, '127.0.0.1', 2, '2026-12-02 10:05:16.50164+00');
INSERT INTO legacy_fixture.registrations VALUES (3, '127.0.0.1', 3, '2026-12-02 10:05:16.747785+00');
INSERT INTO legacy_fixture.registrations VALUES (4, '127.0.0.1', 4, '2026-12-02 10:05:16.984199+00');
INSERT INTO legacy_fixture.settings VALUES ('closed_at', '2026-12-02T10:05:17.630739+00:00');
INSERT INTO legacy_fixture.settings VALUES ('finals_frozen_at', '2026-12-02T10:05:17.630739+00:00');
INSERT INTO legacy_fixture.settings VALUES ('write_lock', '');
INSERT INTO legacy_fixture.settings VALUES ('revealed', '2026-12-02T10:05:17.630739+00:00');
INSERT INTO legacy_fixture.submissions VALUES (1, 1, '2026-12-02 10:05:16.102608+00', 'run0.csv', 'seed 0', '9627e0d2f99e96e17db52c0e7be5bad4ded727b7ba2b626548e2448ce7c62a7f', 619, 'predictions', 'scored', NULL, '9627e0d2f99e96e17db52c0e7be5bad4ded727b7ba2b626548e2448ce7c62a7f', '2026-12-02 10:05:16.102608+00', NULL, 40, 0.859375, 0.6582238274478975, 1, 0.9444444444444443, 0.8623678644024078, 1, false, true, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (3, 1, '2026-12-02 10:05:16.411077+00', 'run2.csv', 'seed 2', 'd987c0276d22bd29bea53b5174622df04d757a1f352f0f79953fb532f1386684', 623, 'predictions', 'scored', NULL, 'd987c0276d22bd29bea53b5174622df04d757a1f352f0f79953fb532f1386684', '2026-12-02 10:05:16.411077+00', NULL, 40, 0.65625, 0.3579844211921765, 0.9545155788078235, 0.7083333333333334, 0.4853628204027923, 0.9313038462638744, false, false, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (2, 1, '2026-12-02 10:05:16.262722+00', 'run1.csv', 'seed 1', '7c9a824ab6d031b4042d1b70fc781eef31d899db5b0af7d4c5715703c249420d', 625, 'predictions', 'scored', NULL, '7c9a824ab6d031b4042d1b70fc781eef31d899db5b0af7d4c5715703c249420d', '2026-12-02 10:05:16.262722+00', NULL, 40, 0.90625, 0.742555497308813, 1, 0.701388888888889, 0.47223495785575514, 0.9305428199220227, true, false, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (4, 2, '2026-12-02 10:05:16.583902+00', 'run10.csv', 'seed 10', '5a77b35b8105842908fea462c3953ecefdd0c4b9b1156607c15ed14a676bdc05', 623, 'predictions', 'scored', NULL, '5a77b35b8105842908fea462c3953ecefdd0c4b9b1156607c15ed14a676bdc05', '2026-12-02 10:05:16.583902+00', NULL, 40, 1, 1, 1, 0.888888888888889, 0.7575663608216305, 1, false, true, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (6, 2, '2026-12-02 10:05:16.708379+00', 'run12.csv', 'seed 12', '51ed6560df4d7f41e0ceeb0f506e02ad90e7d21161a60f935ebc0a840888adc0', 624, 'predictions', 'scored', NULL, '51ed6560df4d7f41e0ceeb0f506e02ad90e7d21161a60f935ebc0a840888adc0', '2026-12-02 10:05:16.708379+00', NULL, 40, 0.953125, 0.8619837581524825, 1, 0.9444444444444443, 0.857582756742878, 1, false, false, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (5, 2, '2026-12-02 10:05:16.655327+00', 'run11.csv', 'seed 11', 'c302539261be97b7fa51efda7a7f2c076de2d4cfb9986a21f36896a8c8ddb7cc', 621, 'predictions', 'scored', NULL, 'c302539261be97b7fa51efda7a7f2c076de2d4cfb9986a21f36896a8c8ddb7cc', '2026-12-02 10:05:16.655327+00', NULL, 40, 0.890625, 0.7181621398400232, 1, 0.9583333333333334, 0.888689045744144, 1, true, false, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (7, 3, '2026-12-02 10:05:16.787309+00', 'run20.csv', 'seed 20', '4064dc5bf8f8f437cbf5a61b639597c957b1643952df09e8bf37da37288ce21c', 622, 'predictions', 'scored', NULL, '4064dc5bf8f8f437cbf5a61b639597c957b1643952df09e8bf37da37288ce21c', '2026-12-02 10:05:16.787309+00', NULL, 40, 1, 1, 1, 0.9305555555555555, 0.836973856015443, 1, false, true, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (9, 3, '2026-12-02 10:05:16.927342+00', 'run22.csv', 'seed 22', 'b016081173574581c8322010c2793f3bb636d273864476f0223208074a1321a1', 624, 'predictions', 'scored', NULL, 'b016081173574581c8322010c2793f3bb636d273864476f0223208074a1321a1', '2026-12-02 10:05:16.927342+00', NULL, 40, 0.9375, 0.8240891217676575, 1, 0.9652777777777778, 0.9052439350688748, 1, false, false, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (8, 3, '2026-12-02 10:05:16.843769+00', 'run21.csv', 'seed 21', '9170f85985584d84d289099445b462141cb51794c46673d47a78a1f23ff1a078', 622, 'predictions', 'scored', NULL, '9170f85985584d84d289099445b462141cb51794c46673d47a78a1f23ff1a078', '2026-12-02 10:05:16.843769+00', NULL, 40, 0.984375, 0.9410655054890725, 1, 0.9930555555555555, 0.9738068913284766, 1, true, false, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (10, 4, '2026-12-02 10:05:17.024276+00', 'run30.csv', 'seed 30', '2ed727ce525a80a4cdca235e4aed6e584a2fd244041ddd490c7922078f5937dd', 618, 'predictions', 'scored', NULL, '2ed727ce525a80a4cdca235e4aed6e584a2fd244041ddd490c7922078f5937dd', '2026-12-02 10:05:17.024276+00', NULL, 40, 1, 1, 1, 1, 1, 1, false, true, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (11, 4, '2026-12-02 10:05:17.090566+00', 'run31.csv', 'seed 31', 'c829fd7f5b1b0c2073542d35d754b6393b6932f0a8c423b9a3bfd514239848c3', 612, 'predictions', 'scored', NULL, 'c829fd7f5b1b0c2073542d35d754b6393b6932f0a8c423b9a3bfd514239848c3', '2026-12-02 10:05:17.090566+00', NULL, 40, 1, 1, 1, 1, 1, 1, true, false, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (13, 5, '2026-12-02 10:05:17.394497+00', 'reference.csv', 'reference', 'f2782f34ce5d456d04ec570210518ed4d90692843701d192640a3570e6bce048', 1013, 'predictions', 'scored', NULL, 'f2782f34ce5d456d04ec570210518ed4d90692843701d192640a3570e6bce048', '2026-12-02 10:05:17.394497+00', NULL, 40, 1, 1, 1, 0.986111111111111, 0.9532804790942965, 1, false, true, NULL, false);
INSERT INTO legacy_fixture.submissions VALUES (12, 4, '2026-12-02 10:05:17.189027+00', 'run32.csv', 'seed 32', 'fdf2007b872093cf37d5d2d182228c88c9373053cb01a2e34b35112e7b166f5f', 619, 'predictions', 'scored', NULL, 'fdf2007b872093cf37d5d2d182228c88c9373053cb01a2e34b35112e7b166f5f', '2026-12-02 10:05:17.189027+00', NULL, 40, 1, 1, 1, 0.9930555555555555, 0.9738068913284766, 1, false, false, 'copied a file', false);
INSERT INTO legacy_fixture.teams VALUES (1, 'team 0', 'tearn o', '682cc14f2b9e09cd79a93eb5d2641cf778ef846dea5912e7d9439bc53b146907', false, NULL, '2026-12-02 10:05:15.298861+00');
INSERT INTO legacy_fixture.teams VALUES (2, 'team 1', 'tearn l', '63afefe6746a74d7e52deeac24298e57b89f682bb8d2e23d1a49644d3ba4b3a1', false, NULL, '2026-12-02 10:05:16.487829+00');
INSERT INTO legacy_fixture.teams VALUES (3, 'team 2', 'tearn 2', '6d729ecb4f33a1735f44f8f31d34ee6695e2b6281fd9dd2cba3c9bbe4a9239fb', false, NULL, '2026-12-02 10:05:16.743963+00');
INSERT INTO legacy_fixture.teams VALUES (4, 'team 3', 'tearn 3', '0d7f038ab0e4489faed907feb7a1bc3fdf1c0268bfcafa73cca9a88bffcc50a3', false, NULL, '2026-12-02 10:05:16.982163+00');
INSERT INTO legacy_fixture.teams VALUES (5, 'matched filter', 'rnatched filter', 'cfc1b6647e3e04aa5b6ca7140d7ce880bc31576ead05dce2d930eb4e38f97999', true, NULL, '2026-12-02 10:05:17.386597+00');
INSERT INTO legacy_fixture.token_failures VALUES ('127.0.0.1', 1, '2026-12-02 10:05:17.226964+00', '2026-12-02 10:05:17.226964+00', 'team token');
SELECT pg_catalog.setval('legacy_fixture.audit_log_id_seq', 1, true);
SELECT pg_catalog.setval('legacy_fixture.board_version_id_seq', 1, false);
SELECT pg_catalog.setval('legacy_fixture.final_rankings_id_seq', 1, true);
SELECT pg_catalog.setval('legacy_fixture.registrations_id_seq', 4, true);
SELECT pg_catalog.setval('legacy_fixture.submissions_id_seq', 13, true);
SELECT pg_catalog.setval('legacy_fixture.teams_id_seq', 5, true);
ALTER TABLE ONLY legacy_fixture.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);
ALTER TABLE ONLY legacy_fixture.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);
ALTER TABLE ONLY legacy_fixture.board_version
    ADD CONSTRAINT board_version_pkey PRIMARY KEY (id);
ALTER TABLE ONLY legacy_fixture.final_rankings
    ADD CONSTRAINT final_rankings_pkey PRIMARY KEY (id);
ALTER TABLE ONLY legacy_fixture.invites
    ADD CONSTRAINT invites_pkey PRIMARY KEY (code_hash);
ALTER TABLE ONLY legacy_fixture.login_sessions
    ADD CONSTRAINT login_sessions_pkey PRIMARY KEY (id_hash);
ALTER TABLE ONLY legacy_fixture.registrations
    ADD CONSTRAINT registrations_pkey PRIMARY KEY (id);
ALTER TABLE ONLY legacy_fixture.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (name);
ALTER TABLE ONLY legacy_fixture.submissions
    ADD CONSTRAINT submissions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY legacy_fixture.teams
    ADD CONSTRAINT teams_name_key_key UNIQUE (name_key);
ALTER TABLE ONLY legacy_fixture.teams
    ADD CONSTRAINT teams_pkey PRIMARY KEY (id);
ALTER TABLE ONLY legacy_fixture.teams
    ADD CONSTRAINT teams_token_hash_key UNIQUE (token_hash);
ALTER TABLE ONLY legacy_fixture.token_failures
    ADD CONSTRAINT token_failures_pkey PRIMARY KEY (address);
CREATE INDEX ix_login_sessions_team_id ON legacy_fixture.login_sessions USING btree (team_id);
CREATE INDEX ix_registrations_address ON legacy_fixture.registrations USING btree (address);
CREATE INDEX ix_registrations_created_at ON legacy_fixture.registrations USING btree (created_at);
CREATE INDEX ix_submissions_created_at ON legacy_fixture.submissions USING btree (created_at);
CREATE INDEX ix_submissions_sha256 ON legacy_fixture.submissions USING btree (sha256);
CREATE INDEX ix_submissions_status ON legacy_fixture.submissions USING btree (status);
CREATE INDEX ix_submissions_team_id ON legacy_fixture.submissions USING btree (team_id);
CREATE INDEX ix_token_failures_last_at ON legacy_fixture.token_failures USING btree (last_at);
ALTER TABLE ONLY legacy_fixture.invites
    ADD CONSTRAINT invites_team_id_fkey FOREIGN KEY (team_id) REFERENCES legacy_fixture.teams(id);
ALTER TABLE ONLY legacy_fixture.login_sessions
    ADD CONSTRAINT login_sessions_team_id_fkey FOREIGN KEY (team_id) REFERENCES legacy_fixture.teams(id) ON DELETE CASCADE;
ALTER TABLE ONLY legacy_fixture.registrations
    ADD CONSTRAINT registrations_team_id_fkey FOREIGN KEY (team_id) REFERENCES legacy_fixture.teams(id);
ALTER TABLE ONLY legacy_fixture.submissions
    ADD CONSTRAINT submissions_team_id_fkey FOREIGN KEY (team_id) REFERENCES legacy_fixture.teams(id);
