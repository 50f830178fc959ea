CREATE TABLE legacy_fixture.bad_token_counts (
    address character varying(64) NOT NULL,
    window_start timestamp with time zone NOT NULL,
    failures integer NOT NULL
);
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
    n_rows integer NOT NULL,
    public_auc double precision NOT NULL,
    public_lo double precision NOT NULL,
    public_hi double precision NOT NULL,
    private_auc double precision NOT NULL,
    private_lo double precision NOT NULL,
    private_hi double precision NOT NULL,
    is_final boolean NOT NULL,
    disqualified_reason text
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
ALTER TABLE ONLY legacy_fixture.submissions ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.submissions_id_seq'::regclass);
ALTER TABLE ONLY legacy_fixture.teams ALTER COLUMN id SET DEFAULT nextval('legacy_fixture.teams_id_seq'::regclass);
INSERT INTO legacy_fixture.bad_token_counts VALUES ('127.0.0.1', '2026-12-02 06:14:03.01457+00', 1);
INSERT INTO legacy_fixture.settings VALUES ('write_lock', '');
INSERT INTO legacy_fixture.settings VALUES ('revealed', '2026-12-02T06:14:03.102647+00:00');
INSERT INTO legacy_fixture.submissions VALUES (1, 1, '2026-12-02 06:14:02.277763+00', 'run0.csv', 'seed 0', '9627e0d2f99e96e17db52c0e7be5bad4ded727b7ba2b626548e2448ce7c62a7f', 619, 40, 0.859375, 0.6582238274478975, 1, 0.9444444444444443, 0.8623678644024078, 1, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (3, 1, '2026-12-02 06:14:02.419756+00', 'run2.csv', 'seed 2', 'd987c0276d22bd29bea53b5174622df04d757a1f352f0f79953fb532f1386684', 623, 40, 0.65625, 0.3579844211921765, 0.9545155788078235, 0.7083333333333334, 0.4853628204027923, 0.9313038462638744, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (2, 1, '2026-12-02 06:14:02.357398+00', 'run1.csv', 'seed 1', '7c9a824ab6d031b4042d1b70fc781eef31d899db5b0af7d4c5715703c249420d', 625, 40, 0.90625, 0.742555497308813, 1, 0.701388888888889, 0.47223495785575514, 0.9305428199220227, true, NULL);
INSERT INTO legacy_fixture.submissions VALUES (4, 2, '2026-12-02 06:14:02.520885+00', 'run10.csv', 'seed 10', '5a77b35b8105842908fea462c3953ecefdd0c4b9b1156607c15ed14a676bdc05', 623, 40, 1, 1, 1, 0.888888888888889, 0.7575663608216305, 1, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (6, 2, '2026-12-02 06:14:02.609307+00', 'run12.csv', 'seed 12', '51ed6560df4d7f41e0ceeb0f506e02ad90e7d21161a60f935ebc0a840888adc0', 624, 40, 0.953125, 0.8619837581524825, 1, 0.9444444444444443, 0.857582756742878, 1, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (5, 2, '2026-12-02 06:14:02.568374+00', 'run11.csv', 'seed 11', 'c302539261be97b7fa51efda7a7f2c076de2d4cfb9986a21f36896a8c8ddb7cc', 621, 40, 0.890625, 0.7181621398400233, 1, 0.9583333333333334, 0.888689045744144, 1, true, NULL);
INSERT INTO legacy_fixture.submissions VALUES (7, 3, '2026-12-02 06:14:02.680662+00', 'run20.csv', 'seed 20', '4064dc5bf8f8f437cbf5a61b639597c957b1643952df09e8bf37da37288ce21c', 622, 40, 1, 1, 1, 0.9305555555555555, 0.836973856015443, 1, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (9, 3, '2026-12-02 06:14:02.775326+00', 'run22.csv', 'seed 22', 'b016081173574581c8322010c2793f3bb636d273864476f0223208074a1321a1', 624, 40, 0.9375, 0.8240891217676575, 1, 0.9652777777777778, 0.9052439350688748, 1, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (8, 3, '2026-12-02 06:14:02.729083+00', 'run21.csv', 'seed 21', '9170f85985584d84d289099445b462141cb51794c46673d47a78a1f23ff1a078', 622, 40, 0.984375, 0.9410655054890725, 1, 0.9930555555555555, 0.9738068913284766, 1, true, NULL);
INSERT INTO legacy_fixture.submissions VALUES (10, 4, '2026-12-02 06:14:02.868638+00', 'run30.csv', 'seed 30', '2ed727ce525a80a4cdca235e4aed6e584a2fd244041ddd490c7922078f5937dd', 618, 40, 1, 1, 1, 1, 1, 1, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (11, 4, '2026-12-02 06:14:02.921409+00', 'run31.csv', 'seed 31', 'c829fd7f5b1b0c2073542d35d754b6393b6932f0a8c423b9a3bfd514239848c3', 612, 40, 1, 1, 1, 1, 1, 1, true, NULL);
INSERT INTO legacy_fixture.submissions VALUES (13, 5, '2026-12-02 06:14:03.061999+00', 'reference.csv', 'reference', 'f2782f34ce5d456d04ec570210518ed4d90692843701d192640a3570e6bce048', 1013, 40, 1, 1, 1, 0.986111111111111, 0.9532804790942965, 1, false, NULL);
INSERT INTO legacy_fixture.submissions VALUES (12, 4, '2026-12-02 06:14:02.961376+00', 'run32.csv', 'seed 32', 'fdf2007b872093cf37d5d2d182228c88c9373053cb01a2e34b35112e7b166f5f', 619, 40, 1, 1, 1, 0.9930555555555555, 0.9738068913284766, 1, false, 'copied a file');
INSERT INTO legacy_fixture.teams VALUES (1, 'team 0', 'team 0', 'c15329e2eb7bed8899ee828e741ba2367b4f096b12f0bd4970e962cefb7948bf', false, NULL, '2026-12-02 06:14:02.182102+00');
INSERT INTO legacy_fixture.teams VALUES (2, 'team 1', 'team 1', '64d5d7edac320a2dc212d3de540fcdd05003330264827649ab81d24b0f6fc714', false, NULL, '2026-12-02 06:14:02.462662+00');
INSERT INTO legacy_fixture.teams VALUES (3, 'team 2', 'team 2', '26eeaf0734b6c4b9ba6e20beda09cc8412922ffc2df9ba26c96e52d94547b049', false, NULL, '2026-12-02 06:14:02.637015+00');
INSERT INTO legacy_fixture.teams VALUES (4, 'team 3', 'team 3', 'a13688c784276b6d99e46a2bdebbd61a9031f28a05d384a4bec9a727dd123cbb', false, NULL, '2026-12-02 06:14:02.805997+00');
INSERT INTO legacy_fixture.teams VALUES (5, 'matched filter', 'matched filter', 'f4ab174c6d2f7dc9a7e7c247d90585b90c49627dd091fd3a6c7491ed0acc1cbc', true, NULL, '2026-12-02 06:14:03.061999+00');
SELECT pg_catalog.setval('legacy_fixture.submissions_id_seq', 13, true);
SELECT pg_catalog.setval('legacy_fixture.teams_id_seq', 5, true);
ALTER TABLE ONLY legacy_fixture.bad_token_counts
    ADD CONSTRAINT bad_token_counts_pkey PRIMARY KEY (address);
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
CREATE INDEX ix_submissions_created_at ON legacy_fixture.submissions USING btree (created_at);
CREATE INDEX ix_submissions_sha256 ON legacy_fixture.submissions USING btree (sha256);
CREATE INDEX ix_submissions_team_id ON legacy_fixture.submissions USING btree (team_id);
ALTER TABLE ONLY legacy_fixture.submissions
    ADD CONSTRAINT submissions_team_id_fkey FOREIGN KEY (team_id) REFERENCES legacy_fixture.teams(id);
