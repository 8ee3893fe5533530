DROP TABLE gh_api_rate;
