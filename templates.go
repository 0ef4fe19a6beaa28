package circly

import "time"

// Template categories.
var TemplateCategories = []string{"appearance", "personality", "talent", "special"}

// Template is a question a poll can ask.
type Template struct {
	ID           string
	Category     string
	QuestionText string
	UsageCount   int
	CreatedAt    time.Time
}
