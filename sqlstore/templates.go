package sqlstore

import (
	"context"

	"circly"

	"gorm.io/gorm"
)

// templateColumns reads usage_count with the uses not folded in yet (see FoldTemplateUses).
const templateColumns = `id, category, question_text,
	usage_count + (SELECT count(*) FROM template_uses u WHERE u.template_id = question_templates.id) AS usage_count,
	created_at`

// ListTemplates returns active templates, most used first; category "" means all.
func (s *Store) ListTemplates(ctx context.Context, category string, page circly.Page) ([]circly.Template, int64, error) {
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
	out := []circly.Template{}
	err := db.Raw(`SELECT `+templateColumns+` FROM question_templates WHERE `+where+`
		ORDER BY usage_count DESC, sort_order, id LIMIT ? OFFSET ?`, append(args, page.Limit, page.Offset)...).Scan(&out).Error
	return out, total, err
}

// GetTemplate returns one active template.
func (s *Store) GetTemplate(ctx context.Context, id string) (circly.Template, error) {
	var t circly.Template
	err := s.conn(ctx).Raw(`SELECT `+templateColumns+` FROM question_templates WHERE id = ? AND is_active = true`, id).Take(&t).Error
	return t, notFound(err, circly.ErrTemplateNotFound)
}

// FoldTemplateUses adds the uses recorded by poll creation to usage_count and deletes them, in
// one step readers see whole: a template's usage reads the same before and after. It returns
// the number of uses folded.
func (s *Store) FoldTemplateUses(ctx context.Context) (int64, error) {
	if s.dialect == Postgres {
		// DELETE … RETURNING takes exactly the rows it counts: a use committed meanwhile stays
		// for the next run.
		var n int64
		err := s.conn(ctx).Raw(`WITH moved AS (DELETE FROM template_uses RETURNING template_id),
			sums AS (SELECT template_id, count(*) AS n FROM moved GROUP BY template_id),
			bumped AS (UPDATE question_templates t SET usage_count = t.usage_count + sums.n
				FROM sums WHERE t.id = sums.template_id RETURNING sums.n)
			SELECT coalesce(sum(n), 0) FROM bumped`).Scan(&n).Error
		return n, err
	}
	// SQLite runs one writer at a time: nothing is inserted between the two statements.
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Raw(`SELECT count(*) FROM template_uses`).Scan(&n).Error; err != nil || n == 0 {
			return err
		}
		if err := tx.Exec(`UPDATE question_templates SET usage_count = usage_count +
			(SELECT count(*) FROM template_uses u WHERE u.template_id = question_templates.id)
			WHERE id IN (SELECT template_id FROM template_uses)`).Error; err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM template_uses`).Error
	})
	return n, err
}
