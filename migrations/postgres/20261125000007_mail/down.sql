DROP TABLE gh_mail_queue;
