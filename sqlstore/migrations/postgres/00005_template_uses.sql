-- Template usage without a hot row.

-- +goose Up
-- Creating a poll used to bump question_templates.usage_count in its transaction, so every
-- poll of a popular template, in every circle, waited on that one row lock until the previous
-- poll committed (about 100 polls/s in all, measured). A poll now only inserts here; reads add
-- these rows to usage_count, and the template_usage job folds them in (jobs.FoldTemplateUses).
CREATE TABLE template_uses (
    id          bigserial PRIMARY KEY,
    template_id uuid NOT NULL REFERENCES question_templates (id) ON DELETE CASCADE
);
CREATE INDEX template_uses_template ON template_uses (template_id);

-- +goose Down
DROP TABLE template_uses;
