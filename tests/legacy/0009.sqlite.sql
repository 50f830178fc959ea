BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0009');
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	action VARCHAR(40) NOT NULL, 
	reason TEXT NOT NULL, 
	detail TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "audit_log" VALUES(1,'2026-12-02 10:05:30.507113','reveal','','submissions closed now, at 2026-12-02 10:05:30 UTC; finals frozen; 4 teams ranked');
CREATE TABLE board_version (
	id INTEGER NOT NULL, 
	version BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "board_version" VALUES(1,26);
CREATE TABLE final_rankings (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	body TEXT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "final_rankings" VALUES(1,'2026-12-02 10:05:30.507113','{"ranked_at": "2026-12-02T10:05:30.507113+00:00", "resamples": 1000, "rows": [{"team_id": 4, "team": "team 3", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:30.276844+00:00", "submission_id": 11, "public_auc": 1.0, "public_lo": 1.0, "public_hi": 1.0, "rank": 1, "rank_lo": 1, "rank_hi": 1, "public_rank": 3, "private_auc": 1.0, "private_lo": 1.0, "private_hi": 1.0, "rank_change": 2, "p_value_vs_next": 0.47950012218694815}, {"team_id": 3, "team": "team 2", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:30.054719+00:00", "submission_id": 8, "public_auc": 0.984375, "public_lo": 0.9410655054890725, "public_hi": 1.0, "rank": 2, "rank_lo": 1, "rank_hi": 3, "public_rank": 2, "private_auc": 0.9930555555555555, "private_lo": 0.9738068913284766, "private_hi": 1.0, "rank_change": 0, "p_value_vs_next": 0.32679956766896767}, {"team_id": 5, "team": "matched filter", "is_reference": true, "entries": 1, "last_submission": "2026-12-02T10:05:30.399975+00:00", "submission_id": 13, "public_auc": 1.0, "public_lo": 1.0, "public_hi": 1.0, "rank": null, "rank_lo": null, "rank_hi": null, "public_rank": null, "private_auc": 0.986111111111111, "private_lo": 0.9532804790942965, "private_hi": 1.0, "rank_change": null, "p_value_vs_next": null}, {"team_id": 2, "team": "team 1", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:29.797324+00:00", "submission_id": 5, "public_auc": 0.890625, "public_lo": 0.7181621398400232, "public_hi": 1.0, "rank": 3, "rank_lo": 1, "rank_hi": 3, "public_rank": 1, "private_auc": 0.9583333333333334, "private_lo": 0.888689045744144, "private_hi": 1.0, "rank_change": -2, "p_value_vs_next": 0.03229486647898114}, {"team_id": 1, "team": "team 0", "is_reference": false, "entries": 3, "last_submission": "2026-12-02T10:05:29.524691+00:00", "submission_id": 2, "public_auc": 0.90625, "public_lo": 0.742555497308813, "public_hi": 1.0, "rank": 4, "rank_lo": 4, "rank_hi": 4, "public_rank": 4, "private_auc": 0.701388888888889, "private_lo": 0.47223495785575514, "private_hi": 0.9305428199220227, "rank_change": 0, "p_value_vs_next": null}], "rank_counts": {"4": {"1": 1000}, "3": {"1": 570, "2": 361, "3": 69}, "2": {"1": 118, "2": 58, "3": 810, "4": 14}, "1": {"1": 2, "3": 14, "4": 984}}}');
CREATE TABLE invites (
	code_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	used_at DATETIME, 
	team_id INTEGER, 
	PRIMARY KEY (code_hash), 
	FOREIGN KEY(team_id) REFERENCES teams (id)
);
INSERT INTO "invites" VALUES('dff4efa7c9fa6d9042c32aa4cf77db13acf573bcc97e22e63e0d8759c8672e60','2026-12-02 10:05:30.468792',NULL,NULL);
INSERT INTO "invites" VALUES('e646ada975ef7841cd83c4ade151cb08583356ef12e4d9cd6902585b7839107f','2026-12-02 10:05:30.468792',NULL,NULL);
CREATE TABLE login_sessions (
	id_hash VARCHAR(64) NOT NULL, 
	team_id INTEGER, 
	credential_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id_hash), 
	FOREIGN KEY(team_id) REFERENCES teams (id) ON DELETE CASCADE
);
CREATE TABLE refused_uploads (
	team_id INTEGER NOT NULL, 
	day DATE NOT NULL, 
	count INTEGER NOT NULL, 
	PRIMARY KEY (team_id, day), 
	FOREIGN KEY(team_id) REFERENCES teams (id) ON DELETE CASCADE
);
CREATE TABLE registrations (
	id INTEGER NOT NULL, 
	address VARCHAR(64) NOT NULL, 
	team_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(team_id) REFERENCES teams (id)
);
INSERT INTO "registrations" VALUES(1,'127.0.0.1',1,'2026-12-02 10:05:28.965112');
INSERT INTO "registrations" VALUES(2,'127.0.0.1',2,'2026-12-02 10:05:29.561917');
INSERT INTO "registrations" VALUES(3,'127.0.0.1',3,'2026-12-02 10:05:29.843855');
INSERT INTO "registrations" VALUES(4,'127.0.0.1',4,'2026-12-02 10:05:30.085584');
CREATE TABLE settings (
	name VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "settings" VALUES('write_lock','');
INSERT INTO "settings" VALUES('revealed','2026-12-02T10:05:30.507113+00:00');
INSERT INTO "settings" VALUES('closed_at','2026-12-02T10:05:30.507113+00:00');
INSERT INTO "settings" VALUES('finals_frozen_at','2026-12-02T10:05:30.507113+00:00');
CREATE TABLE submissions (
	id INTEGER NOT NULL, 
	team_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	filename VARCHAR(200) NOT NULL, 
	note VARCHAR(400) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size_bytes BIGINT NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	failure_reason TEXT, 
	scores_sha256 VARCHAR(64), 
	scored_at DATETIME, 
	started_at DATETIME, 
	n_rows INTEGER, 
	public_auc FLOAT, 
	public_lo FLOAT, 
	public_hi FLOAT, 
	private_auc FLOAT, 
	private_lo FLOAT, 
	private_hi FLOAT, 
	is_final BOOLEAN NOT NULL, 
	ladder_accepted BOOLEAN, 
	disqualified_reason TEXT, 
	is_late BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(team_id) REFERENCES teams (id)
);
INSERT INTO "submissions" VALUES(1,1,'2026-12-02 10:05:29.429037','run0.csv','seed 0','9627e0d2f99e96e17db52c0e7be5bad4ded727b7ba2b626548e2448ce7c62a7f',619,'predictions','scored',NULL,'9627e0d2f99e96e17db52c0e7be5bad4ded727b7ba2b626548e2448ce7c62a7f','2026-12-02 10:05:29.429037',NULL,40,0.859375,6.58223827447897535947e-01,1.0,9.4444444444444430875e-01,8.62367864402407757751e-01,1.0,0,1,NULL,0);
INSERT INTO "submissions" VALUES(2,1,'2026-12-02 10:05:29.481333','run1.csv','seed 1','7c9a824ab6d031b4042d1b70fc781eef31d899db5b0af7d4c5715703c249420d',625,'predictions','scored',NULL,'7c9a824ab6d031b4042d1b70fc781eef31d899db5b0af7d4c5715703c249420d','2026-12-02 10:05:29.481333',NULL,40,0.90625,0.742555497308813,1.0,0.701388888888889,4.72234957855755144162e-01,9.30542819922022701462e-01,1,0,NULL,0);
INSERT INTO "submissions" VALUES(3,1,'2026-12-02 10:05:29.524691','run2.csv','seed 2','d987c0276d22bd29bea53b5174622df04d757a1f352f0f79953fb532f1386684',623,'predictions','scored',NULL,'d987c0276d22bd29bea53b5174622df04d757a1f352f0f79953fb532f1386684','2026-12-02 10:05:29.524691',NULL,40,0.65625,3.57984421192176494042e-01,9.54515578807823450446e-01,7.0833333333333337034e-01,4.85362820402792327634e-01,9.31303846263874413047e-01,0,0,NULL,0);
INSERT INTO "submissions" VALUES(4,2,'2026-12-02 10:05:29.620304','run10.csv','seed 10','5a77b35b8105842908fea462c3953ecefdd0c4b9b1156607c15ed14a676bdc05',623,'predictions','scored',NULL,'5a77b35b8105842908fea462c3953ecefdd0c4b9b1156607c15ed14a676bdc05','2026-12-02 10:05:29.620304',NULL,40,1.0,1.0,1.0,0.888888888888889,7.57566360821630535582e-01,1.0,0,1,NULL,0);
INSERT INTO "submissions" VALUES(5,2,'2026-12-02 10:05:29.691843','run11.csv','seed 11','c302539261be97b7fa51efda7a7f2c076de2d4cfb9986a21f36896a8c8ddb7cc',621,'predictions','scored',NULL,'c302539261be97b7fa51efda7a7f2c076de2d4cfb9986a21f36896a8c8ddb7cc','2026-12-02 10:05:29.691843',NULL,40,0.890625,7.18162139840023194814e-01,1.0,9.5833333333333337034e-01,0.888689045744144,1.0,1,0,NULL,0);
INSERT INTO "submissions" VALUES(6,2,'2026-12-02 10:05:29.797324','run12.csv','seed 12','51ed6560df4d7f41e0ceeb0f506e02ad90e7d21161a60f935ebc0a840888adc0',624,'predictions','scored',NULL,'51ed6560df4d7f41e0ceeb0f506e02ad90e7d21161a60f935ebc0a840888adc0','2026-12-02 10:05:29.797324',NULL,40,0.953125,8.61983758152482515413e-01,1.0,9.4444444444444430875e-01,0.857582756742878,1.0,0,0,NULL,0);
INSERT INTO "submissions" VALUES(7,3,'2026-12-02 10:05:29.892857','run20.csv','seed 20','4064dc5bf8f8f437cbf5a61b639597c957b1643952df09e8bf37da37288ce21c',622,'predictions','scored',NULL,'4064dc5bf8f8f437cbf5a61b639597c957b1643952df09e8bf37da37288ce21c','2026-12-02 10:05:29.892857',NULL,40,1.0,1.0,1.0,9.30555555555555469204e-01,0.836973856015443,1.0,0,1,NULL,0);
INSERT INTO "submissions" VALUES(8,3,'2026-12-02 10:05:29.978421','run21.csv','seed 21','9170f85985584d84d289099445b462141cb51794c46673d47a78a1f23ff1a078',622,'predictions','scored',NULL,'9170f85985584d84d289099445b462141cb51794c46673d47a78a1f23ff1a078','2026-12-02 10:05:29.978421',NULL,40,0.984375,9.41065505489072529066e-01,1.0,9.93055555555555469204e-01,9.73806891328476642577e-01,1.0,1,0,NULL,0);
INSERT INTO "submissions" VALUES(9,3,'2026-12-02 10:05:30.054719','run22.csv','seed 22','b016081173574581c8322010c2793f3bb636d273864476f0223208074a1321a1',624,'predictions','scored',NULL,'b016081173574581c8322010c2793f3bb636d273864476f0223208074a1321a1','2026-12-02 10:05:30.054719',NULL,40,0.9375,8.24089121767657473149e-01,1.0,9.65277777777777790113e-01,9.05243935068874794325e-01,1.0,0,0,NULL,0);
INSERT INTO "submissions" VALUES(10,4,'2026-12-02 10:05:30.138063','run30.csv','seed 30','2ed727ce525a80a4cdca235e4aed6e584a2fd244041ddd490c7922078f5937dd',618,'predictions','scored',NULL,'2ed727ce525a80a4cdca235e4aed6e584a2fd244041ddd490c7922078f5937dd','2026-12-02 10:05:30.138063',NULL,40,1.0,1.0,1.0,1.0,1.0,1.0,0,1,NULL,0);
INSERT INTO "submissions" VALUES(11,4,'2026-12-02 10:05:30.208455','run31.csv','seed 31','c829fd7f5b1b0c2073542d35d754b6393b6932f0a8c423b9a3bfd514239848c3',612,'predictions','scored',NULL,'c829fd7f5b1b0c2073542d35d754b6393b6932f0a8c423b9a3bfd514239848c3','2026-12-02 10:05:30.208455',NULL,40,1.0,1.0,1.0,1.0,1.0,1.0,1,0,NULL,0);
INSERT INTO "submissions" VALUES(12,4,'2026-12-02 10:05:30.276844','run32.csv','seed 32','fdf2007b872093cf37d5d2d182228c88c9373053cb01a2e34b35112e7b166f5f',619,'predictions','scored',NULL,'fdf2007b872093cf37d5d2d182228c88c9373053cb01a2e34b35112e7b166f5f','2026-12-02 10:05:30.276844',NULL,40,1.0,1.0,1.0,9.93055555555555469204e-01,9.73806891328476642577e-01,1.0,0,0,'copied a file',0);
INSERT INTO "submissions" VALUES(13,5,'2026-12-02 10:05:30.399975','reference.csv','reference','f2782f34ce5d456d04ec570210518ed4d90692843701d192640a3570e6bce048',1013,'predictions','scored',NULL,'f2782f34ce5d456d04ec570210518ed4d90692843701d192640a3570e6bce048','2026-12-02 10:05:30.399975',NULL,40,1.0,1.0,1.0,0.986111111111111,9.53280479094296473441e-01,1.0,0,1,NULL,0);
CREATE TABLE teams (
	id INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	name_key VARCHAR(200) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	is_reference BOOLEAN NOT NULL, 
	disqualified_reason TEXT, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name_key), 
	UNIQUE (token_hash)
);
INSERT INTO "teams" VALUES(1,'team 0','tearn o','67e6fe760060040fde969b9c3ce1c53954980fe65c79fbef1206a30fd5ab2431',0,NULL,'2026-12-02 10:05:28.939042');
INSERT INTO "teams" VALUES(2,'team 1','tearn l','7b16e803914b01f992c2636c6f77e553d0705efc0c727ad24467daabf43d5e3f',0,NULL,'2026-12-02 10:05:29.560803');
INSERT INTO "teams" VALUES(3,'team 2','tearn 2','ec86111c501c15ad842b464f9e595da06b39cff38cd6b689320fab1856b0e015',0,NULL,'2026-12-02 10:05:29.842707');
INSERT INTO "teams" VALUES(4,'team 3','tearn 3','6e5bb41b0ce9dc838b04305a2be482070bc24ccf15ffac3c41a7a5c02760fc66',0,NULL,'2026-12-02 10:05:30.084574');
INSERT INTO "teams" VALUES(5,'matched filter','rnatched filter','54f94eeedb48c5eac659655f91c105395b8205fa4790157ef176d83bfa17df15',1,NULL,'2026-12-02 10:05:30.393932');
CREATE TABLE token_failures (
	address VARCHAR(64) NOT NULL, 
	failures INTEGER NOT NULL, 
	first_at DATETIME NOT NULL, 
	last_at DATETIME NOT NULL, 
	last_kind VARCHAR(32) NOT NULL, 
	PRIMARY KEY (address)
);
INSERT INTO "token_failures" VALUES('127.0.0.1',1,'2026-12-02 10:05:30.319897','2026-12-02 10:05:30.319897','team token');
CREATE INDEX ix_token_failures_last_at ON token_failures (last_at);
CREATE INDEX ix_submissions_created_at ON submissions (created_at);
CREATE INDEX ix_submissions_sha256 ON submissions (sha256);
CREATE INDEX ix_submissions_team_id ON submissions (team_id);
CREATE INDEX ix_submissions_status ON submissions (status);
CREATE INDEX ix_login_sessions_team_id ON login_sessions (team_id);
CREATE INDEX ix_registrations_address ON registrations (address);
CREATE INDEX ix_registrations_created_at ON registrations (created_at);
COMMIT;
