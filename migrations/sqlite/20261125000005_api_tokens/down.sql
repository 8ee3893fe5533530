DROP TABLE gh_api_tokens;
