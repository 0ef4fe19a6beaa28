-- Seed question templates for middle and high school circles (Korean display text).

-- +goose Up
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000001', 'appearance', '우리 반에서 웃는 모습이 가장 예쁜 사람은?', 0, true, 1, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000002', 'appearance', '옷을 가장 센스 있게 입는 사람은?', 0, true, 2, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000003', 'appearance', '헤어스타일이 가장 잘 어울리는 사람은?', 0, true, 3, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000004', 'appearance', '사진이 가장 잘 나오는 사람은?', 0, true, 4, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000005', 'personality', '가장 친절한 사람은?', 0, true, 5, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000006', 'personality', '힘들 때 가장 먼저 생각나는 친구는?', 0, true, 6, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000007', 'personality', '비밀을 가장 잘 지켜 줄 것 같은 사람은?', 0, true, 7, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000008', 'personality', '같이 있으면 가장 편한 사람은?', 0, true, 8, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000009', 'personality', '가장 긍정적인 에너지를 주는 사람은?', 0, true, 9, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000010', 'talent', '노래를 가장 잘 부를 것 같은 사람은?', 0, true, 10, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000011', 'talent', '시험 기간에 같이 공부하고 싶은 사람은?', 0, true, 11, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000012', 'talent', '운동 신경이 가장 좋은 사람은?', 0, true, 12, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000013', 'talent', '그림을 가장 잘 그리는 사람은?', 0, true, 13, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000014', 'special', '나중에 가장 유명해질 것 같은 사람은?', 0, true, 14, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000015', 'special', '무인도에 같이 가고 싶은 사람은?', 0, true, 15, '2026-01-01 00:00:00+00:00');
INSERT INTO question_templates (id, category, question_text, usage_count, is_active, sort_order, created_at) VALUES ('00000000-0000-4000-8000-000000000016', 'special', '10년 뒤에도 꼭 연락하고 싶은 친구는?', 0, true, 16, '2026-01-01 00:00:00+00:00');

-- +goose Down
DELETE FROM question_templates WHERE id::text LIKE '00000000-0000-4000-8000-%' AND NOT EXISTS (SELECT 1 FROM polls WHERE polls.template_id = question_templates.id);
