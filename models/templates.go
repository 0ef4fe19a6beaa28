package models

import (
	"context"
	"time"
)

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

const templateColumns = `id, category, question_text, usage_count, created_at`

// ListTemplates returns active templates, most used first; category "" means all.
func (s *Store) ListTemplates(ctx context.Context, category string, page Page) ([]Template, int64, error) {
	db := s.conn(ctx)
	where := `is_active = true`
	var args []any
	if category != "" {
		where += ` AND category = ?`
		args = append(args, category)
	}
	var total int64
	if err := db.Raw(`SELECT count(*) FROM question_templates WHERE `+where, args...).Scan(&total).Error; err != nil {
		return nil, 0, err
	}
	out := []Template{}
	err := db.Raw(`SELECT `+templateColumns+` FROM question_templates WHERE `+where+`
		ORDER BY usage_count DESC, sort_order, id LIMIT ? OFFSET ?`, append(args, page.Limit, page.Offset)...).Scan(&out).Error
	return out, total, err
}

// GetTemplate returns one active template.
func (s *Store) GetTemplate(ctx context.Context, id string) (Template, error) {
	var t Template
	err := s.conn(ctx).Raw(`SELECT `+templateColumns+` FROM question_templates WHERE id = ? AND is_active = true`, id).Take(&t).Error
	return t, notFound(err, ErrTemplateNotFound)
}
